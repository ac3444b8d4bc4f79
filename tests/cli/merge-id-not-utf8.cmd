merge merge/ab/p.kai merge/ab/badutf8.csv
