merge merge/ab/tasks.kai merge/ab/second60.csv
