report report/old.kai report/bad.csv -o /dev/null
