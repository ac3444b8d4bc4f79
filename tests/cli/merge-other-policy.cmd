merge ../../examples/support-table/policy.kai merge/foreign.csv merge/s1.csv
