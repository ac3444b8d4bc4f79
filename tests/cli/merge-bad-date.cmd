merge merge/ab/p.kai merge/ab/feb30.csv
