"""Amazon Personalize: the interactions schema the platform imports, and the checks run before import."""
