"""Campaign report: metrics, plots and the HTML page."""
