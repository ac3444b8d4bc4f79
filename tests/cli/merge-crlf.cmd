merge merge/ab/p.kai merge/crlf.csv
