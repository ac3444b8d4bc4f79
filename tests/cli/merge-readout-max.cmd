merge ../../examples/ab-timing/policy.kai merge/rmax.csv
