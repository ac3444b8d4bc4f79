"""kairos_dask -- replay Kairos policies on a Dask cluster.

One Dask task per customer shard runs the `kairos` binary on a worker
(`kairos simulate ... --shard K/N`, or `simulate` over one partition's files
when the input is already partitioned by customer); `kairos merge` joins the
shards' schedules into exactly the bytes one `kairos simulate` writes.
"""
from .core import simulate, KairosError

__all__ = ["simulate", "KairosError"]
