merge merge/ab/tasks.kai merge/ab/wrong-action.csv
