fmt tree/a
