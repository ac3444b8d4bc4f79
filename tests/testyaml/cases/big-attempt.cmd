malformed/big-attempt.test.yaml
