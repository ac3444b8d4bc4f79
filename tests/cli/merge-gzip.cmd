merge merge/ab/p.kai merge/ab/sched.csv.gz
