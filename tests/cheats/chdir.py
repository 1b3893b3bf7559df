import os

os.makedirs("elsewhere", exist_ok=True)
os.chdir("elsewhere")  # a cell that changes the working folder
