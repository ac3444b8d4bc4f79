readout report/seg.kai report/seg.csv -o report
