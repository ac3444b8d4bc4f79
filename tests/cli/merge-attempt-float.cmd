merge ../../examples/support-table/policy.kai merge/ab/attempt-float.jsonl
