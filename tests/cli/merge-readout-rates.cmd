merge ../../examples/ab-timing/policy.kai merge/r0.csv merge/rrates.csv
