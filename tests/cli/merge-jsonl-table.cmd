merge ../../examples/support-table/policy.kai merge/s1.jsonl -o 'sqlite:x.db?table=t'
