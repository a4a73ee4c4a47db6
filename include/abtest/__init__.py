"""A/B testing of recommenders: the always-valid sequential test and the promotion decision."""
