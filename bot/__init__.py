"""The conversation: intents, seller commands, customer replies, referrals, texts, delivery."""
