merge merge/ab/p.kai merge/ab/novariant.csv
