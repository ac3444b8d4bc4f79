merge ../../examples/ab-timing/policy.kai merge/r0.csv merge/r1.csv merge/r2.csv
