merge ../../examples/support-table/policy.kai merge/lone-surrogate.jsonl
