from tfclaims.launch import run

run()
