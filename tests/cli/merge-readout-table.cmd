merge ../../examples/support-table/policy.kai merge/r0.csv merge/r1.csv -o 'sqlite:x.db?table=t'
