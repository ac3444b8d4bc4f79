simulate --no-progress --stats --skip-bad-rows stats/one.kai stats/one.csv
