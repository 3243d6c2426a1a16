"""Reports: leaderboard pages, plots, the published-results page and the regression gate (`bench check`)."""
