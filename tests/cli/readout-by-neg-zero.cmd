readout report/seg.kai report/neg-zero.csv --by customer.segment
