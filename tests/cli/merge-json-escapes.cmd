merge ../../examples/support-table/policy.kai merge/escaped.jsonl
