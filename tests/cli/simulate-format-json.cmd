simulate ../../examples/sms-reminders/policy.kai ../../examples/sms-reminders/events.csv --stats --format json
