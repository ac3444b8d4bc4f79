merge merge/ab/tasks.kai merge/ab/twice.csv
