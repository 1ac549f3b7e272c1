def main():
    return {"message": "Hello, World!"}
