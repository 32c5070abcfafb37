# expect: runtime-error ValueError line 3
print(int("12"))
print(int("twelve"))
