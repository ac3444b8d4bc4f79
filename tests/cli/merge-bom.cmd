merge merge/ab/p.kai merge/bom.csv
