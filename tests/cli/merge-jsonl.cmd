merge ../../examples/support-table/policy.kai merge/s1.jsonl merge/empty.jsonl
