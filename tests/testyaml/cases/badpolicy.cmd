malformed/badpolicy.test.yaml
