merge ../../examples/support-table/policy.kai merge/s0.csv merge/s1.csv
