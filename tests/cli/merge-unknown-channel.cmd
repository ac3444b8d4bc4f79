merge merge/ab/p.kai merge/ab/fax.csv
