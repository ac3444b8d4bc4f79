readout report/seg.kai report/seg.csv --format csv -o report/r.csv && cat report/r.csv && rm report/r.csv
