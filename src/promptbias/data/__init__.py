"""Training sets (text, label in 0..2) and bias suites (label, category, group, text, template_id)."""
