"""Site profiles (TOML) shipped with the crawler."""
