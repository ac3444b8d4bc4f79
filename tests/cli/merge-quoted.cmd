merge ../../examples/support-table/policy.kai merge/quoted.csv merge/a.csv
