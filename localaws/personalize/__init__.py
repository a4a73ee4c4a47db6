"""Amazon Personalize, which moto lacks: `models` keeps the control plane with its status
progression and trains solution versions with `recipes` (real, small recommenders);
`responses` answers Personalize, Personalize Runtime and Personalize Events operations."""
