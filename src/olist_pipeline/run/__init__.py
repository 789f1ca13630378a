"""The main job a user runs (`make run` / `olist run`)."""
