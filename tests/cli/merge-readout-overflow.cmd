merge ../../examples/ab-timing/policy.kai merge/rhuge.csv merge/rhuge2.csv
