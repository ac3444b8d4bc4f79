readout report/seg.kai report/seg.csv --by customer.segment
