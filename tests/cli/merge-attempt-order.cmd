merge merge/ab/tasks.kai merge/ab/attempt-order.csv
