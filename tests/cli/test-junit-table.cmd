test --junit 'sqlite:x.db?table=t'
