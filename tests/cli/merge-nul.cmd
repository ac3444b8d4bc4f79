merge ../../examples/support-table/policy.kai merge/nul.csv
