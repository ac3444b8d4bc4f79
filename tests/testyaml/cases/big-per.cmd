malformed/big-per.test.yaml
