readout report/seg.kai report/seg.csv --window 7x
