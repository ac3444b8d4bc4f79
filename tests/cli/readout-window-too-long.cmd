readout report/seg.kai report/seg.csv --window 5300w
